"""com.edgewatch.MetricsCollector: samples system metrics with psutil and publishes them through
Greengrass IPC, to local pub/sub every sample and to AWS IoT Core in batches that survive outages.

Layout: a pure core (snapshot -> metric table -> rates -> batches -> payloads, schedules, config
parsing) with time and I/O passed in; adapters at the edges (psutil in `system_source`, SQLite in
`offline_buffer`, Greengrass IPC in `ipc_adapter`); `__main__` wires them.
"""
