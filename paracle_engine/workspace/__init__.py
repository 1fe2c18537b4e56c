"""Reading a `.parac/` workspace: manifest, specs, skills, workflows, inheritance, safe file reads."""
