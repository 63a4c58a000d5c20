"""The jobs (a solution's run, a student's notebook) and what runs them: threads here or a Dask
cluster; results written atomically, resumable; reasons for failed checks."""
