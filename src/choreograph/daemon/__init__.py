"""``choreo daemon``: a front that queues tasks in SQLite and runs each with the same
:func:`choreograph.engine.execute` the CLI calls in-process, behind a JSON API
(see docs/daemon.md). Modules: ``app`` (routes), ``schemas`` (the API's records),
``tasks`` (the store), ``queue`` (the scheduler), ``events`` (each task's progress log),
``inputs`` (uploaded plans → run specs), ``uploads`` (archive checks), ``auth``,
``retention``, ``server`` (uvicorn in-process), ``client`` (what the CLI uses with
``--endpoint``) and the web dashboard (``dashboard``, ``views``, ``compare_view``, with
``templates/`` and ``static/``). Importing this package imports none of them: FastAPI is an extra.
"""
