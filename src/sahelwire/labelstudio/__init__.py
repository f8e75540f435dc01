"""Label Studio integration: the managed server, the labeling config, push and pull."""
