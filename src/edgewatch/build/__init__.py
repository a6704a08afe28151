"""`edgewatch build`, the offline `gdk component build` of the suite.

Modules, lowest first: `errors` (BuildError), `zipper` (reproducible ZIPs), `recipe` (the recipe GDK's
build writes), `gdkconfig` (the suite's gdk-config.json and the per-component copies), `suite`
(discover, check and build the components: the API), `cli` (the parser and handler; light to
import). Kept empty so that importing the parser does not load the build.
"""
