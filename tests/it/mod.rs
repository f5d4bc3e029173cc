mod fileserver;
mod gitfs;
mod golden;
mod inventory;
mod keys;
mod missing;
mod security;
mod targeting;
