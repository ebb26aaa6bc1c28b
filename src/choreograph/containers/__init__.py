"""Docker: the engine client, content-addressed image builds, and ``images prepare``.

Used by the ``docker:*`` builders and the ``local:docker`` runner; imports nothing above
``plan`` (see ARCHITECTURE.md)."""
