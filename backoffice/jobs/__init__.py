"""RQ jobs: thin functions that load what they need, call one rule in ``services``
and record the outcome, plus the worker that runs them (``jobs.worker``).

Nothing else in the package imports this package: jobs are enqueued by their dotted
name through ``backoffice.queues`` (the layer contracts in ``.importlinter`` say so).
"""
