"""Registration on many machines: jobs handed to Celery workers over a PostgreSQL catalog.

- :mod:`.broker`: the Celery application (its settings), sending chunks.
- :mod:`.handoff`: planning a stored job into chunks and handing it to the workers.
- :mod:`.worker`: ``accessio worker``: the chunk task, the heartbeat, recovery.

The catalog side (chunks, claims, workers) is :mod:`accessio.catalog.chunks`.
"""
