"""Which images of a multi-stage build are left behind (and removed after it)."""

from __future__ import annotations

from choreograph.containers.build import stage_images

OUTPUT = """\
Step 1/8 : ARG BUILD_BASE_IMAGE
Step 2/8 : FROM ${BUILD_BASE_IMAGE} AS builder
 ---> 873810d12b53
Step 3/8 : COPY plan /plan
 ---> Using cache
 ---> 1111aaaa2222
Step 4/8 : RUN go build -o /testplan
 ---> Running in 7777cee78452
Removing intermediate container 7777cee78452
 ---> 3333bbbb4444
Step 5/8 : FROM busybox:1.36-glibc AS runtime
 ---> eeedaf926848
Step 6/8 : COPY --from=builder /testplan /testplan
 ---> 5555cccc6666
Step 7/8 : ENTRYPOINT ["/testplan"]
 ---> 7777dddd8888
Successfully built 7777dddd8888
"""


def test_the_last_image_of_every_stage_but_the_final_one() -> None:
    assert stage_images(OUTPUT.splitlines()) == ["3333bbbb4444"]


def test_a_single_stage_build_leaves_nothing_to_remove() -> None:
    lines = ["Step 1/2 : FROM busybox", " ---> eeedaf926848", "Step 2/2 : COPY a /a", " ---> 1"]
    assert stage_images(lines) == []
