"""Code shared by the EdgeWatch components; copied into every component artifact by `edgewatch build`.

Only the standard library and the components' pinned requirements may be imported here: the local
runtime (`edgewatch`) never ships in an artifact.
"""
