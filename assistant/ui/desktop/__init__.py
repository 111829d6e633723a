"""Desktop integration: tray, global key, single instance, icon, About, shortcuts sheet."""
