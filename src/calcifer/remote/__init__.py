"""Remote sync: the managed repository's remote (push after merges, fetch and integrate outside commits,
outside changes adopted into work items). Git work goes through ``calcifer.gitrepo``."""
