"""Pull requests: a work item's branch pushed to the remote and proposed on the forge (GitHub, GitLab,
Gitea/Forgejo) instead of merged here; the next fetch completes the work item once the forge merged it."""
