"""From laptop to fleet: `edgewatch publish`, `deploy` and `provision` (AWS control plane).

Pure rendering (policies, deployment documents, recipes, versions, nucleus config.yaml) lives in
small modules with no AWS calls; `publish`, `deploy` and `provision` are thin boto3 adapters; the
CLI (`cli.add_cloud_parsers`) is the one wiring point. See README.md, "From laptop to fleet".
"""
