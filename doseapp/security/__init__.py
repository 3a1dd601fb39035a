"""Web security that is no single page's business: where `next`/`back` may lead (safe_urls), login
throttling (login_throttle), request body limits in the application and the web server
(request_limits), and the security headers of every response (headers)."""
