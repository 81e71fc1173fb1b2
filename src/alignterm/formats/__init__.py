"""Writers of comparison results: JSON Lines records, CSV rows, rich `pretty` text, HTML."""
