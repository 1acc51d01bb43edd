"""What a finished request becomes for downstream nodes: NodeOutput values, frames decoded as takes land."""
