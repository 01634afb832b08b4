"""Tools around the monitor: synthetic tag streams and labels, the local stack's monitor and Prometheus, the quality
report, the dashboard command and the monitor's benchmark."""
