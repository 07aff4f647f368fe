"""Pictures of a search: the board against uniform paths, training curves,
the Pareto front of the budgets."""
