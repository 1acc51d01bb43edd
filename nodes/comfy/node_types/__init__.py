"""The node classes, one module per node family, and the schema pieces they share."""
