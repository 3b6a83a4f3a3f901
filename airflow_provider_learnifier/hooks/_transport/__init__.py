"""The transport under :class:`~airflow_provider_learnifier.hooks.learnifier.LearnifierHook`.

Private: the hook is the interface. See ``docs/guides/hook.md`` for what the hook does and
``docs/reliability.md`` for why the transport works as it does.
"""
