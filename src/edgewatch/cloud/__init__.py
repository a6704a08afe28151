"""From laptop to fleet: `edgewatch publish`, `deploy` and `provision` (AWS control plane).

Pure rendering (policies, deployment documents, recipes, versions, nucleus config.yaml) lives in
small modules with no AWS calls; `publish`, `deploy` and `provision` are thin boto3 adapters; the
CLI is the one wiring point: `cli` parses (stdlib only), `commands` runs, with a `deps.CloudDeps`
(clients, sleep, clock) handed in. See README.md, "From laptop to fleet".
"""
