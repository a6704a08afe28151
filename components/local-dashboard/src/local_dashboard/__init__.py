"""com.edgewatch.LocalDashboard: the gateway's live dashboard (aiohttp HTTP + WebSocket, Greengrass IPC)."""
