"""Money as seen from ComfyUI: the spend check, its settings, the spend ledger, fal's documents (prices, schema, balance)."""
