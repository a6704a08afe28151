"""com.edgewatch.AlertRouter: evaluates alert rules on the local metric stream and routes notifications.

Layout: a pure core (rules, evaluator, routing, grouping, inhibition, silences; time passed in), a
persistent outbox with per-integration delivery workers, thin adapters (IPC, Slack, IoT Core, local
topic, log), and one wiring point, `__main__`.
"""
