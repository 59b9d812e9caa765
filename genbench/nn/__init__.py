"""Networks only (no training or sampling loops): evaluator nets, generators' building blocks."""
