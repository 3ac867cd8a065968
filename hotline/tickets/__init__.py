"""Work orders (工单): ticket types and forms, the workflow state machine, deadlines (pure cores)."""
