"""The step vocabulary: Gherkin sentences bound to the Cluster protocol, and nothing else."""
