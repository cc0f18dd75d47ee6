"""Notifications to people by email: a guardian named for an opinion or seated on a panel, a guardian whose claim is
about to lapse, the guardians on duty when an emergency case arrives in the queue or a queued case goes overdue, and
the safeguarding leads when a safeguarding case is decided.

Why an email outbox: each notification is a row of `email_outbox` (outbox.py) written in the transaction of the act
that calls for it, beside the act's audit event and webhook outbox event. A rolled-back act therefore sends nothing, and
a crash after the commit loses nothing: the worker (courier.py) sends what is due, with retries and backoff, outside
any transaction. A cursor over the audit events would also see every act, but the chain does not say who was named for
an opinion or seated on a panel, and its events are chained after the commit, so a reader would need its own cursor
and its own record of what it had sent; the outbox row is that record. A claim about to lapse is not an act: the
worker looks for such claims each round and writes one row per claim (a unique key, so once however many workers
look).

A named guardian is known only by token subject and organisation: their address is the one the console's sign-in last
recorded (people.py, `seen`), read when the message is sent (the safeguarding leads are those whose last sign-in held
the role); a person with no known address is skipped and logged by subject, never an error. The messages (messages.py)
are fixed texts per kind with a link to the case in the console and the time that matters; they hold no personal data:
no name, no purpose's description, no identifier, no requester's text.
"""
