"""The prompt's rules, pure: widget types, takes plans, input identities, prompt costs, the price badge."""
