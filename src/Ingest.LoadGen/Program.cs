Console.WriteLine("ingest-load");
