"""`edgewatch fleet watch`: the fleet seen through AWS IoT Core (model, inbox, transports, views)."""
