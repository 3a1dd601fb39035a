"""Standard names, diagnostic reference levels and the CT dose estimates compared with them (SSDE,
effective dose): mapping rules, the shipped national DRL sets, local DRLs, and the comparison."""
