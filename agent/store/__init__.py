"""All SQL behind one `Store` facade: records, migrations, checkpoints, health, the retrying writer."""
