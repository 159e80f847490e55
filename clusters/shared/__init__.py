"""What every backend may use: processes, waits, Go builds, sites and certificates, cleanup."""
