"""Result webhooks: an item's final outcome, POSTed (signed) to a URL through the queue."""
