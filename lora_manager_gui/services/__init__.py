"""asyncio services, free of Qt: importer, hasher, civitai, previews, stack inspector, exporter."""
