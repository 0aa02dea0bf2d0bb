"""Subscriptions' notifications: the PAS topic and its filter (``topic``), the outbox written in
the transaction of each change (``outbox``), the notification shapes (``bundles``), rest-hook
delivery (``delivery``) and the delivery loops (``worker``)."""
