"""Pull requests as the interface: the GitHub REST client, the PR report, proposing a change as ONE PR
(retraining, template updates), and which paths are yours."""
