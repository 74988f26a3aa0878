"""Storm control: memory across executions (dedup, rate budgets, digests, silences, the
delivery ledger) in a state store shared by every execution of the pack.

Nothing here is imported unless the pack config has a ``storm_control`` section: a pack
without it behaves, and loads, exactly as before.  ``store`` holds the interface, ``sqlite``
and ``redis`` its two backends, ``settings`` the config section, ``policy`` the step around
a call's deliveries, ``digest`` the summaries and their flusher, ``silences`` the matchers.
"""
