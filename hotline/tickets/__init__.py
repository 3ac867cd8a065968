"""Work orders (工单): ticket types and forms, the workflow state machine, deadlines (pure cores),
and their shell: :mod:`hotline.tickets.service` (create, act, edit, list; importing it registers
the customer's open orders with the screen pop), :mod:`~hotline.tickets.dispatch` (rules),
:mod:`~hotline.tickets.attachments`, :mod:`~hotline.tickets.search` (full-text tokens) and
:mod:`~hotline.tickets.events` (live events)."""
