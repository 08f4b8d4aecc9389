"""The streaming console and background conversations (issue 6).

    acting.py    who the console acts as: the one decision (tenants.access underneath)
    calls.py     console_call, the one way to the upstream (the proxy pipeline, in-process),
                 and run_turn: one conversation turn as the upstream's events
    turns.py     a page's turn, from its POST to the stream that runs it; the Stop flag
    jobs.py      background jobs: every state change (start, claim, beat, finish, cancel, sweep)
    runner.py    a job on a Celery worker: stream, publish, heartbeat, flush
    channels.py  where a job's events go for pages to replay and follow: Redis or the database
    tasks.py     the Celery tasks

The pages are tenants/views/console.py and tenants/views/console_jobs.py.
"""
