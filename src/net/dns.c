typedef int corio__placeholder_dns;
