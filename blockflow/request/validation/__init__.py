"""Nova's checks of a POST /servers body: schema per microversion, BDM rules, compute-API
checks, the catalog they read, and the pipeline that runs them in Nova's order."""
