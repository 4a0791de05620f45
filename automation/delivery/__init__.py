"""Progressive delivery: the regional health gate and the serial multi-region deploy."""
