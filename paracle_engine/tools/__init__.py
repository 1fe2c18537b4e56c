"""Tools an agent can call: the protocol and registry, confinement to the project root,
the built-ins (files, search, commands, git), the manifest-name table and permissions.

Nothing here talks to a provider or runs the agent loop; the loop calls
`ToolRegistry.call` after `Permissions.decide` has said yes.
"""
