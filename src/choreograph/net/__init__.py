"""Linux host networking for the ``local:netns`` runner: namespaces, links, the sidecar,
and traffic shaping (see ARCHITECTURE.md, Networking)."""
