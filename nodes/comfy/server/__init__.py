"""The server side: HTTP routes for the browser extension and the inbox, the on-prompt widget check."""
