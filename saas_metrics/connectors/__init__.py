"""Real source connectors: Stripe, HubSpot and ad platform APIs, and SQL replicas (docs/connectors.md).

Every connector produces records in the native shape of the landing files and reuses the one
mapper per table, so ``files``, ``api`` and ``sql`` give the same canonical frames.
Entry points: :func:`saas_metrics.connectors.resource.read_table` and the Dagster resource
:class:`saas_metrics.connectors.resource.SourceSystemsResource`.
"""
