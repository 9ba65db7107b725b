"""Batch room: results stored by key, and chunked jobs over many windows.

- :mod:`.store`: the content-addressed result store and the model digest;
- :mod:`.cache_keys`: the store keys of per-sequence results;
- :mod:`.result_cache`: the bounded memory cache in front of the store (the engine session's);
- :mod:`.jobs`: chunked, resumable batch jobs and their executors (local, Ray).
"""
