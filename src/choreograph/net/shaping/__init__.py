"""Traffic shaping backends: one behaviour (every LinkShape field, rules, routing policy),
several ways to get it (see :mod:`choreograph.net.shaping.base`)."""
