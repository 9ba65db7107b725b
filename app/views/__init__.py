"""Dashboard views: the explore page (overview + detail views), the test-set page, the model page."""
